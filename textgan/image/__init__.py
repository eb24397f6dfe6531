"""textgan.image"""
