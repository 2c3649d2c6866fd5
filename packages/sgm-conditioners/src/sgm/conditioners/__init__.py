"""sgm.conditioners"""
