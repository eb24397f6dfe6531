"""textgan.text"""
