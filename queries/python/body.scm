; Facts about a function body that purity and key design need.
; Run over one function node; callers skip nodes that belong to nested
; functions or lambdas where that matters (yield, return).
(call
  function: (_) @callee
  arguments: (_) @args) @call

(assignment
  left: (_) @target) @assign

(augmented_assignment
  left: (_) @target) @augassign

(delete_statement) @delete

(global_statement) @global

(nonlocal_statement) @global

(attribute
  object: (identifier) @object
  attribute: (identifier) @attr) @attribute

(yield) @yield

(return_statement) @return

(identifier) @ident
