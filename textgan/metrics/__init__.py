"""textgan.metrics"""
