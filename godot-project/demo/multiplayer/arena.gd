extends Control
## The play area of the multiplayer demo: a fixed-size board (SIZE, the coordinates every peer
## shares) drawn in _draw(), scaled to fit whatever room the window gives it.

const SIZE := Vector2(800, 480)
const GRID := 40.0

var _panel := StyleBoxFlat.new()


func _ready() -> void:
	size = SIZE
	_panel.bg_color = Color(0.086, 0.102, 0.125)
	_panel.border_color = Color(1, 1, 1, 0.14)
	_panel.set_border_width_all(2)
	_panel.set_corner_radius_all(8)
	var frame := get_parent() as Control
	frame.resized.connect(_fit)
	_fit()


func bounds() -> Rect2:
	return Rect2(Vector2.ZERO, SIZE)


## Positions in the arena are the same on every peer; only the drawing scales with the window.
func _fit() -> void:
	var frame := get_parent() as Control
	var s := minf(frame.size.x / SIZE.x, frame.size.y / SIZE.y)
	if s <= 0.0:
		return
	scale = Vector2(s, s)
	position = ((frame.size - SIZE * s) / 2.0).floor()


func _draw() -> void:
	draw_style_box(_panel, Rect2(Vector2.ZERO, SIZE))
	var line := Color(1, 1, 1, 0.045)
	var x := GRID
	while x < SIZE.x:
		draw_line(Vector2(x, 2), Vector2(x, SIZE.y - 2), line, 1.0)
		x += GRID
	var y := GRID
	while y < SIZE.y:
		draw_line(Vector2(2, y), Vector2(SIZE.x - 2, y), line, 1.0)
		y += GRID
