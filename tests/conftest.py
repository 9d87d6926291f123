pytest_plugins = ["tests.support.fixtures", "tests.support.store", "tests.support.server"]
