extends "res://tests/snippets/snippet_harness.gd"
## The default driver of `script` and `members` snippets: the snippet's node is added under the
## root (its _ready() runs), its snippet_body() too for a `body` block, and it runs for 30 frames.
## Checks that it compiles, is a Node, and is still in the tree; with the error rules of the
## checker, that it ran clean.


func drive() -> void:
	var node := add_snippet(root, "Snippet")
	if node == null:
		return
	await run_body(node)
	await wait_frames(30)
	check(is_instance_valid(node) and node.is_inside_tree(), "the snippet's node is still in the tree after 30 frames")
