print('pinned')
