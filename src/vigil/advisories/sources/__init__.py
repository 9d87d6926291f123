"""Sources fetched their own way: the locators and updaters of `update.LOCATORS` and `update.UPDATERS`."""
