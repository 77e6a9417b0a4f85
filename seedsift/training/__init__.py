"""Steps 4-5 over ``models/``: training table, plan, fold jobs, the choice of model, feature importance."""
