"""sgm.train"""
