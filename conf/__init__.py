"""gnnrec's Hydra config tree, installed as the package ``gnnrec.conf``."""
