SELECT * FROM information_schema.columns WHERE table_name = 'cases'
