"""The sandbox: implementations run in processes of their own, and what happened there becomes
one verdict (verdict.py) with a one-line reason."""
