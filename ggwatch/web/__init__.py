"""The HTTP face: the app (status page, /findings, /metrics, health), its client limits, the
status page's pure rendering, and the Alertmanager webhook. Readers only: nothing here calls AWS
except through the cleaner the webhook is handed."""
