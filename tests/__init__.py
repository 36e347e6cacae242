"""The test suite as one package, so every test module has one name (`tests.reports.test_report`, never a bare
`reports` that would hide the real `reports` package) and `conftest.py` is imported once, by pytest."""
