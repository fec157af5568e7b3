{{/*
One backend track as a Deployment; stable, canary, blue and green differ only in name, image tag,
replicas and the `version` label (the document's track label: version=stable / version=canary).
(dict "root" $ "track" "stable" "replicas" 2 "extraEnv" list)
*/}}
{{- define "flightdeck.backend.deployment" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $suffix := ternary "" (printf "-%s" .track) (eq .track "stable") }}
{{- $name := printf "%s-backend%s" (include "flightdeck.fullname" $root) $suffix }}
{{- /* The version and replicas flightdeck set stay while their values are unchanged (keepLive). */}}
{{- $live := lookup "apps/v1" "Deployment" (include "flightdeck.namespace" $root) $name }}
{{- $chartTag := include "flightdeck.backend.tag" (dict "root" $root "track" .track) }}
{{- $liveTag := include "flightdeck.liveEnv" (dict "live" $live "container" "backend" "name" "APP_VERSION") }}
{{- $tag := include "flightdeck.keepLive" (dict "live" $live "field" "image-tag" "value" $chartTag "liveValue" $liveTag) }}
{{- $replicas := include "flightdeck.keepLive" (dict "live" $live "field" "replicas" "value" .replicas "liveValue" (dig "spec" "replicas" nil $live)) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  namespace: {{ include "flightdeck.namespace" $root }}
  labels:
    {{- include "flightdeck.componentLabels" (dict "root" $root "component" "backend") | nindent 4 }}
    version: {{ .track }}
  annotations:
    flightdeck.io/chart-image-tag: {{ $chartTag | quote }}
    {{- if not .autoscaled }}
    flightdeck.io/chart-replicas: {{ .replicas | quote }}
    {{- end }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ $replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "flightdeck.componentSelectorLabels" (dict "root" $root "component" "backend") | nindent 6 }}
      version: {{ .track }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "flightdeck.componentLabels" (dict "root" $root "component" "backend") | nindent 8 }}
        version: {{ .track }}
        flightdeck.io/image-tag: {{ include "flightdeck.imageTagLabel" $tag | quote }}
    spec:
      serviceAccountName: {{ include "flightdeck.fullname" $root }}-backend
      automountServiceAccountToken: {{ $v.backend.serviceAccount.automountToken }}
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "flightdeck.podSecurityContext" (dict "uid" $v.runAsUser) | nindent 8 }}
      terminationGracePeriodSeconds: 30
      containers:
        - name: backend
          image: {{ printf "%s:%s" $v.backend.image.repository $tag | quote }}
          imagePullPolicy: {{ $v.backend.image.pullPolicy }}
          args:
            - uvicorn
            - app.main:app
            - --host=0.0.0.0
            - --port={{ $v.backend.port }}
            - --workers=1
          ports:
            - name: http
              containerPort: {{ $v.backend.port }}
              protocol: TCP
          env:
            {{- include "flightdeck.mongodb.uriEnv" (dict "root" $root "name" "MONGODB_URI") | nindent 12 }}
            - name: MONGODB_DATABASE
              value: {{ $v.mongodb.database | quote }}
            - name: UPLOAD_DIR
              value: {{ $v.uploads.mountPath | quote }}
            - name: MAX_UPLOAD_BYTES
              value: {{ int64 $v.backend.maxUploadBytes | quote }}
            - name: APP_TRACK
              value: {{ .track | quote }}
            {{- with $v.backend.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with .extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- /* Last, where flightdeck puts it when it sets a version: an upgrade then leaves
            the order, and so the pods, alone. */}}
            - name: APP_VERSION
              value: {{ $tag | quote }}
          startupProbe:
            httpGet:
              path: {{ $v.backend.probes.startup.path }}
              port: http
            periodSeconds: {{ $v.backend.probes.startup.periodSeconds }}
            timeoutSeconds: {{ $v.backend.probes.startup.timeoutSeconds }}
            failureThreshold: {{ $v.backend.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: {{ $v.backend.probes.liveness.path }}
              port: http
            periodSeconds: {{ $v.backend.probes.liveness.periodSeconds }}
            timeoutSeconds: {{ $v.backend.probes.liveness.timeoutSeconds }}
            failureThreshold: {{ $v.backend.probes.liveness.failureThreshold }}
          readinessProbe:
            httpGet:
              path: {{ $v.backend.probes.readiness.path }}
              port: http
            periodSeconds: {{ $v.backend.probes.readiness.periodSeconds }}
            timeoutSeconds: {{ $v.backend.probes.readiness.timeoutSeconds }}
            failureThreshold: {{ $v.backend.probes.readiness.failureThreshold }}
          resources:
            {{- toYaml $v.backend.resources | nindent 12 }}
          securityContext:
            {{- include "flightdeck.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            - name: uploads
              mountPath: {{ $v.uploads.mountPath }}
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: uploads
          persistentVolumeClaim:
            claimName: {{ include "flightdeck.fullname" $root }}-uploads
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
      {{- with $v.backend.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.backend.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.backend.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
