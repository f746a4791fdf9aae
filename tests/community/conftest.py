from tests.community.progress_data import data_set  # noqa: F401  (a fixture)
