"""The suite's fixtures come from the shared support package (testkit/pytest_plugin.py)."""

pytest_plugins = ["testkit.pytest_plugin"]
