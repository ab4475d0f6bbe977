print("recstream")
