SET fjq.disclosure.threshold = 1
