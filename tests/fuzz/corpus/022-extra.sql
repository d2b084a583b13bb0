SELECT suppress(count(*)), round_to_base(count(*), 5) FROM events GROUP BY event_code
