"""The kernel's own components: the random-search baseline and the first-order gradient step."""
