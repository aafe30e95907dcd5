CREATE VIEW customer_totals AS
SELECT c.id   
FROM customers AS c
