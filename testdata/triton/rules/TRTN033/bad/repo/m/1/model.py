print('unpinned')
