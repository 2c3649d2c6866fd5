"""sgm.autoencoders"""
