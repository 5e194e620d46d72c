; Every call: the setup search looks for `X.setup(...)` and `FastAPI(...)`
; among them (run only on the statements that mention those names).
(call) @call
