# Thin wrappers; the scripts under deploy/local/ do the work.
.PHONY: demo test stop status

demo:
	deploy/local/demo.sh

test:
	deploy/local/test.sh

stop:
	.venv/bin/tongban stack down

status:
	.venv/bin/tongban stack status
