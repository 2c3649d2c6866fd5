"""sgm.video"""
