; Import statements anywhere in a module: they bind the names that calls
; and decorators are resolved through.
(import_statement) @import
(import_from_statement) @import_from
(future_import_statement) @future
