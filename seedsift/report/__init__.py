"""Steps 8-9: the run summary, the forward-match counts and the report figures."""
