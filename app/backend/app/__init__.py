"""The reference application that Flightdeck deploys: a notes API with file attachments."""
