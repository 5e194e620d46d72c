; Every function definition in a module, with its name.
; `async def` is the same node kind with an anonymous `async` child.
(function_definition
  name: (identifier) @name) @function
