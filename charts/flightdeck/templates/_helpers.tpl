{{/* Names --------------------------------------------------------------------------------- */}}

{{- define "flightdeck.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resource name prefix, truncated so that suffixes such as -backend-canary still fit. */}}
{{- define "flightdeck.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flightdeck.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The namespace every namespaced resource goes to. */}}
{{- define "flightdeck.namespace" -}}
{{- default .Release.Namespace .Values.namespace.name }}
{{- end }}

{{/* Labels ---------------------------------------------------------------------------------- */}}

{{- define "flightdeck.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flightdeck.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flightdeck.labels" -}}
helm.sh/chart: {{ include "flightdeck.chart" . }}
{{ include "flightdeck.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flightdeck
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one component: (dict "root" $ "component" "backend") */}}
{{- define "flightdeck.componentLabels" -}}
{{ include "flightdeck.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "flightdeck.componentSelectorLabels" -}}
{{ include "flightdeck.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Images ---------------------------------------------------------------------------------- */}}

{{/* (dict "image" .Values.backend.image "tag" "override" "root" $) */}}
{{- define "flightdeck.image" -}}
{{- $tag := .tag | default .image.tag | default .root.Chart.AppVersion }}
{{- printf "%s:%s" .image.repository (toString $tag) }}
{{- end }}

{{/* Image tag of one backend track: (dict "root" $ "track" "stable") */}}
{{- define "flightdeck.backend.tag" -}}
{{- $v := .root.Values }}
{{- if eq .track "canary" }}
{{- required "canary.image.tag is required when canary.enabled=true" $v.canary.image.tag }}
{{- else if eq .track "blue" }}
{{- $v.blueGreen.blue.tag | default $v.backend.image.tag | default .root.Chart.AppVersion }}
{{- else if eq .track "green" }}
{{- $v.blueGreen.green.tag | default $v.backend.image.tag | default .root.Chart.AppVersion }}
{{- else }}
{{- $v.backend.image.tag | default .root.Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* The track the backend Service sends traffic to. */}}
{{- define "flightdeck.backend.activeTrack" -}}
{{- if .Values.blueGreen.enabled }}{{ .Values.blueGreen.activeColor }}{{ else }}stable{{ end }}
{{- end }}

{{/* Security -------------------------------------------------------------------------------- */}}

{{/* Pod security context for a non-root UID: (dict "uid" 10001) */}}
{{- define "flightdeck.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "flightdeck.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* MongoDB --------------------------------------------------------------------------------- */}}

{{- define "flightdeck.mongodb.fullname" -}}
{{ include "flightdeck.fullname" . }}-mongodb
{{- end }}

{{/* Host of the in-cluster replica-set member (its stable DNS name through the headless Service). */}}
{{- define "flightdeck.mongodb.host" -}}
{{- $name := include "flightdeck.mongodb.fullname" . -}}
{{ $name }}-0.{{ $name }}.{{ include "flightdeck.namespace" . }}.svc.cluster.local:27017
{{- end }}

{{/*
Environment variables that end with MONGODB_URI for a container: the external URI from its
Secret, or the in-cluster URI built from the root credentials by Kubernetes' $(VAR) expansion.
(dict "root" $ "name" "MONGODB_URI")
*/}}
{{- define "flightdeck.mongodb.uriEnv" -}}
{{- $v := .root.Values }}
{{- if $v.mongodb.enabled }}
- name: MONGODB_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "mongodb.auth.existingSecret is required (see docs/helm.md)" $v.mongodb.auth.existingSecret }}
      key: {{ $v.mongodb.auth.usernameKey }}
- name: MONGODB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.mongodb.auth.existingSecret }}
      key: {{ $v.mongodb.auth.passwordKey }}
- name: {{ .name }}
  value: "mongodb://$(MONGODB_USERNAME):$(MONGODB_PASSWORD)@{{ include "flightdeck.mongodb.host" .root }}/?replicaSet={{ $v.mongodb.replicaSetName }}&authSource=admin"
{{- else }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ required "externalMongodb.existingSecret is required when mongodb.enabled=false" $v.externalMongodb.existingSecret }}
      key: {{ $v.externalMongodb.uriKey }}
{{- end }}
{{- end }}

{{/* Services -------------------------------------------------------------------------------- */}}

{{- define "flightdeck.backend.serviceName" -}}
{{ include "flightdeck.fullname" . }}-backend
{{- end }}

{{- define "flightdeck.canary.serviceName" -}}
{{ include "flightdeck.fullname" . }}-backend-canary
{{- end }}

{{- define "flightdeck.frontend.serviceName" -}}
{{ include "flightdeck.fullname" . }}-frontend
{{- end }}

{{- define "flightdeck.tlsSecretName" -}}
{{ .Values.ingress.tls.secretName | default (printf "%s-tls" (include "flightdeck.fullname" .)) }}
{{- end }}

{{- define "flightdeck.clusterIssuerName" -}}
{{- if .Values.certManager.clusterIssuers.create -}}
{{ include "flightdeck.fullname" . }}-letsencrypt-{{ .Values.certManager.issuer }}
{{- else -}}
letsencrypt-{{ .Values.certManager.issuer }}
{{- end }}
{{- end }}

{{/* Fields flightdeck changes on the live objects ------------------------------------------ */}}

{{/*
flightdeck's rollouts change a few fields of the chart's objects: the canary weight and header
routing, each backend track's version (image, APP_VERSION, flightdeck.io/image-tag) and
replicas. Helm's three-way merge would put the chart's values back on every upgrade (a parked
canary back at its weight, a promoted version rolled back), so each such field is rendered from
the live object for as long as the value it came from is unchanged, and from the value once an
operator changes it. The value last rendered is recorded in the annotation
`flightdeck.io/chart-<field>` of the object (docs/helm.md, "Upgrades after rollouts").
On first install, with `helm template` and for objects without the annotation: the value.
(dict "live" (lookup ...) "field" "replicas" "value" 1 "liveValue" 0) -> the value to render
*/}}
{{- define "flightdeck.keepLive" -}}
{{- if and (include "flightdeck.followsLive" .) (not (kindIs "invalid" .liveValue)) (ne (toString .liveValue) "") }}
{{- .liveValue }}
{{- else }}
{{- .value }}
{{- end }}
{{- end }}

{{/* "true" when the live object records `value` as the one last rendered for `field`, else "". */}}
{{- define "flightdeck.followsLive" -}}
{{- $recorded := index (dig "metadata" "annotations" dict .live) (printf "flightdeck.io/chart-%s" .field) }}
{{- if and $recorded (eq (toString $recorded) (toString .value)) }}true{{ end }}
{{- end }}

{{/* The live value of an environment variable of a Deployment's container: (dict "live" $d "container" "backend" "name" "APP_VERSION") */}}
{{- define "flightdeck.liveEnv" -}}
{{- range $c := dig "spec" "template" "spec" "containers" list .live }}
{{- if eq $c.name $.container }}
{{- range $e := ($c.env | default list) }}
{{- if eq $e.name $.name }}{{ $e.value | default "" }}{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The pod label value of a version, as flightdeck writes it (kubernetes/workloads.py image_tag_label). */}}
{{- define "flightdeck.imageTagLabel" -}}
{{- regexReplaceAll "[^A-Za-z0-9._-]" (toString .) "_" | trunc 63 | trimAll "_.-" }}
{{- end }}
