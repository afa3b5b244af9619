"""Jobs that chain the stages: the demo on the bundled sample account, the scheduled run.

May import every stage but ``cli``.
"""
