"""The write side of the delivery tracker: the Project aggregate and the application's commands."""
