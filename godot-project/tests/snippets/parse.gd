extends "res://tests/snippets/snippet_harness.gd"
## The driver of `parse-only` snippets: compiled (a parse or type error fails), never run.


func drive() -> void:
	load_snippet()
