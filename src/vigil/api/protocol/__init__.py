"""Inspector2's rest-json protocol driven by botocore's service model: routes, parsing, validation, shapes."""
