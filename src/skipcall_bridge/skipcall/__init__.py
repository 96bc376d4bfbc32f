"""The Skipcall Public API: DTOs (`models`) and the HTTP client (`client`)."""
