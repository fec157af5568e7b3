{{/* Egress rule to MongoDB: the in-cluster pod, or the external CIDR blocks. */}}
{{- define "flightdeck.networkPolicy.mongodbEgress" -}}
{{- if .Values.mongodb.enabled }}
- to:
    - podSelector:
        matchLabels:
          {{- include "flightdeck.componentSelectorLabels" (dict "root" $ "component" "mongodb") | nindent 10 }}
  ports:
    - port: 27017
      protocol: TCP
{{- else }}
- to:
    {{- range .Values.externalMongodb.cidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - port: {{ .Values.externalMongodb.port }}
      protocol: TCP
{{- end }}
{{- end }}
