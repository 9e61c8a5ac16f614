"""Modules the problem scripts may import inside the sandbox (standard library only): the child puts
this folder on its path, so a script's ``import draganddrop`` finds ``draganddrop.py`` here."""
