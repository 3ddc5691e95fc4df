extends "res://tests/snippets/server_context.gd"
## The admission control snippet starts with `server`, like every `body` snippet of the server
## driver.
