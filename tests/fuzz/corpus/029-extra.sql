COPY (SELECT * FROM people) TO '/tmp/people.csv'
