SELECT * FROM linked_people WHERE cafcass_role = 'subject' LIMIT 5
