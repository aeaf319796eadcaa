"""Load the streamconform plugin when running from a source checkout.

The installed package registers it through the pytest11 entry point; naming it here
too keeps `pytest suites` working with PYTEST_DISABLE_PLUGIN_AUTOLOAD set.
"""

pytest_plugins = ("streamconform.pytest_plugin",)
