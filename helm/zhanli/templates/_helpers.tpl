{{/*
Zhanli chart helpers. Every service (gateway included) is rendered by ONE named template,
"zhanli.service", called from its own file (templates/<service>.yaml), so a fix lands in
every service at once and the per-service files cannot drift.
*/}}

{{/* The services the gateway fronts, in port order. */}}
{{- define "zhanli.backends" -}}
talent learning kpi commission retention people audit
{{- end }}

{{- define "zhanli.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zhanli.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of one service's objects: <fullname>-<service>. Args: root, name. */}}
{{- define "zhanli.componentName" -}}
{{- printf "%s-%s" (include "zhanli.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zhanli.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zhanli.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zhanli.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "zhanli.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: zhanli
{{- end }}

{{/* Labels of one service's objects. Args: root, name. */}}
{{- define "zhanli.componentLabels" -}}
{{ include "zhanli.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* Pod selector of one service role. Args: root, name, role. */}}
{{- define "zhanli.roleSelector" -}}
{{ include "zhanli.selectorLabels" .root }}
app.kubernetes.io/component: {{ .name }}
zhanli.io/role: {{ .role }}
{{- end }}

{{/* registry/repository:tag of one service. Args: root, name. */}}
{{- define "zhanli.image" -}}
{{- $svc := index .root.Values .name }}
{{- $img := .root.Values.image }}
{{- $tag := $svc.image.tag | default $img.tag | default .root.Chart.AppVersion }}
{{- if $img.registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $img.registry) $svc.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" $svc.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Secret and key holding one service's database URL ("" when in demo mode). */}}
{{- define "zhanli.databaseSecret" -}}
{{- $svc := index .root.Values .name }}
{{- $svc.database.existingSecret | default .root.Values.database.existingSecret }}
{{- end }}

{{- define "zhanli.databaseKey" -}}
{{- $svc := index .root.Values .name }}
{{- $svc.database.secretKey | default (printf "%s-database-url" .name) }}
{{- end }}

{{/* Refuse combinations demo mode (SQLite in an emptyDir) cannot honour. Args: root, name. */}}
{{- define "zhanli.checkDemoMode" -}}
{{- $svc := index .root.Values .name }}
{{- if not (include "zhanli.databaseSecret" .) }}
{{- if $svc.splitRoles }}
{{- fail (printf "%s.splitRoles needs a database: set database.existingSecret (demo mode keeps SQLite inside one pod)" .name) }}
{{- end }}
{{- if or (gt (int $svc.replicas) 1) $svc.autoscaling.enabled }}
{{- fail (printf "%s: more than one replica needs a database: set database.existingSecret" .name) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Non-secret environment of one service as a flat map (ConfigMap data, and the env of the
hook Jobs, which run before the ConfigMap exists). Args: root, name.
*/}}
{{- define "zhanli.envMap" -}}
{{- $v := .root.Values }}
{{- $svc := index $v .name }}
{{- $prefix := printf "ZHANLI_%s_" (upper .name) }}
ZHANLI_ENVIRONMENT: {{ $v.platform.environment | quote }}
ZHANLI_TIMEZONE: {{ $v.platform.timezone | quote }}
ZHANLI_LOG_LEVEL: {{ $v.platform.logLevel | quote }}
ZHANLI_HOST: "0.0.0.0"
{{ $prefix }}PORT: {{ $svc.port | quote }}
ZHANLI_METRICS_PORT: {{ $v.metrics.port | quote }}
ZHANLI_METRICS_HOST: "0.0.0.0"
ZHANLI_KAFKA_BOOTSTRAP_SERVERS: {{ $v.kafka.bootstrapServers | quote }}
ZHANLI_KAFKA_ENABLE_IDEMPOTENCE: {{ $v.kafka.enableIdempotence | quote }}
ZHANLI_KAFKA_SECURITY_PROTOCOL: {{ $v.kafka.securityProtocol | quote }}
{{- with $v.kafka.sasl.mechanism }}
ZHANLI_KAFKA_SASL_MECHANISM: {{ . | quote }}
{{- end }}
{{- with $v.kafka.sasl.username }}
ZHANLI_KAFKA_SASL_USERNAME: {{ . | quote }}
{{- end }}
ZHANLI_KAFKA_TOPIC_PARTITIONS: {{ $v.kafka.topicPartitions | quote }}
ZHANLI_KAFKA_REPLICATION_FACTOR: {{ $v.kafka.replicationFactor | quote }}
ZHANLI_AUTH_ISSUER: {{ $v.auth.issuer | quote }}
ZHANLI_AUTH_AUDIENCE: {{ $v.auth.audience | quote }}
{{- with $v.auth.jwksUrl }}
ZHANLI_AUTH_JWKS_URL: {{ . | quote }}
{{- end }}
{{- if $v.auth.publicKey.existingSecret }}
ZHANLI_AUTH_PUBLIC_KEY_FILE: {{ printf "/var/run/secrets/zhanli/auth/%s" $v.auth.publicKey.key | quote }}
{{- end }}
{{- if $v.dataKeys.existingSecret }}
ZHANLI_DATA_KEYS_FILE: {{ printf "/var/run/secrets/zhanli/data-keys/%s" $v.dataKeys.key | quote }}
{{- end }}
{{- if not (include "zhanli.databaseSecret" .) }}
ZHANLI_VAR_DIR: "/var/lib/zhanli"
{{- end }}
{{- if eq .name "gateway" }}
{{- range $backend := splitList " " (include "zhanli.backends" .root) }}
{{- if (index $v $backend).create }}
ZHANLI_GATEWAY_UPSTREAMS__{{ upper $backend }}: {{ printf "http://%s:%v" (include "zhanli.componentName" (dict "root" $.root "name" $backend)) (index $v $backend).port | quote }}
{{- end }}
{{- end }}
{{- if $svc.privateKey.existingSecret }}
ZHANLI_GATEWAY_AUTH_PRIVATE_KEY_FILE: {{ printf "/var/run/secrets/zhanli/issuer/%s" $svc.privateKey.key | quote }}
{{- end }}
{{- end }}
{{- if and (eq .name "people") $v.gateway.privateKey.existingSecret }}
{{- /* the built-in issuer's sign-in: the same key as the gateway's */}}
ZHANLI_PEOPLE_AUTH_PRIVATE_KEY_FILE: {{ printf "/var/run/secrets/zhanli/issuer/%s" $v.gateway.privateKey.key | quote }}
{{- end }}
{{- if and (eq .name "audit") $v.gateway.privateKey.existingSecret }}
{{- /* signed checkpoints of the audit chain: the platform's signing key */}}
ZHANLI_AUDIT_AUTH_PRIVATE_KEY_FILE: {{ printf "/var/run/secrets/zhanli/issuer/%s" $v.gateway.privateKey.key | quote }}
{{- end }}
{{- range $k, $val := $v.platform.env }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- range $k, $val := $svc.env }}
{{ $k }}: {{ $val | toString | quote }}
{{- end }}
{{- end }}

{{/* Environment taken from Secrets (never from the ConfigMap). Args: root, name;
alsoDatabaseOf (optional): another service whose database URL the process reads too. */}}
{{- define "zhanli.secretEnv" -}}
{{- $v := .root.Values }}
{{- if not .skipDatabase }}
{{- with (include "zhanli.databaseSecret" .) }}
- name: {{ printf "ZHANLI_%s_DATABASE_URL" (upper $.name) }}
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "zhanli.databaseKey" $ }}
{{- end }}
{{- end }}
{{- with .alsoDatabaseOf }}
{{- $other := dict "root" $.root "name" . }}
{{- with (include "zhanli.databaseSecret" $other) }}
- name: {{ printf "ZHANLI_%s_DATABASE_URL" (upper $other.name) }}
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ include "zhanli.databaseKey" $other }}
{{- end }}
{{- end }}
{{- with $v.kafka.sasl.existingSecret }}
- name: ZHANLI_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- end }}
{{- end }}

{{/* Volume mounts every Zhanli container has. Args: root, name. */}}
{{- define "zhanli.volumeMounts" -}}
{{- $v := .root.Values }}
- name: tmp
  mountPath: /tmp
{{- if not (include "zhanli.databaseSecret" .) }}
- name: data
  mountPath: /var/lib/zhanli
{{- end }}
{{- if $v.auth.publicKey.existingSecret }}
- name: auth-public-key
  mountPath: /var/run/secrets/zhanli/auth
  readOnly: true
{{- end }}
{{- if $v.dataKeys.existingSecret }}
- name: data-keys
  mountPath: /var/run/secrets/zhanli/data-keys
  readOnly: true
{{- end }}
{{- if and (has .name (list "gateway" "people" "audit")) $v.gateway.privateKey.existingSecret }}
- name: issuer-private-key
  mountPath: /var/run/secrets/zhanli/issuer
  readOnly: true
{{- end }}
{{- end }}

{{- define "zhanli.volumes" -}}
{{- $v := .root.Values }}
- name: tmp
  emptyDir:
    sizeLimit: {{ $v.tmpSizeLimit }}
{{- if not (include "zhanli.databaseSecret" .) }}
- name: data
  emptyDir: {}
{{- end }}
{{- if $v.auth.publicKey.existingSecret }}
- name: auth-public-key
  secret:
    secretName: {{ $v.auth.publicKey.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if $v.dataKeys.existingSecret }}
- name: data-keys
  secret:
    secretName: {{ $v.dataKeys.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if and (has .name (list "gateway" "people" "audit")) $v.gateway.privateKey.existingSecret }}
- name: issuer-private-key
  secret:
    secretName: {{ $v.gateway.privateKey.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{/* Pod-level settings shared by Deployments and Jobs. Args: root, name. */}}
{{- define "zhanli.podCommon" -}}
{{- $v := .root.Values }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
{{- with $v.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
volumes:
  {{- include "zhanli.volumes" . | trim | nindent 2 }}
{{- end }}

{{/*
One container running `python -m zhanli_<name> <command>`. Args: root, name, command,
containerName, envFrom (a ConfigMap name, or "" to inline the env), probes (bool),
resources.
*/}}
{{- define "zhanli.container" -}}
{{- $v := .root.Values }}
{{- $svc := index $v .name }}
- name: {{ .containerName }}
  image: {{ include "zhanli.image" . | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if .module }}
  command: ["python", "-m", {{ .module | quote }}]
  {{- else }}
  args: [{{ .command | quote }}]
  {{- end }}
  {{- if .envFrom }}
  envFrom:
    - configMapRef:
        name: {{ .envFrom }}
  {{- end }}
  {{- $secretEnv := include "zhanli.secretEnv" . }}
  {{- if or $secretEnv (not .envFrom) }}
  env:
    {{- if not .envFrom }}
    {{- range $k, $val := (include "zhanli.envMap" . | fromYaml) }}
    - name: {{ $k }}
      value: {{ $val | toString | quote }}
    {{- end }}
    {{- end }}
    {{- $secretEnv | trim | nindent 4 }}
  {{- end }}
  {{- if .probes }}
  ports:
    - name: http
      containerPort: {{ $svc.port }}
      protocol: TCP
    - name: metrics
      containerPort: {{ $v.metrics.port }}
      protocol: TCP
  startupProbe:
    httpGet:
      path: /health/live
      port: http
    periodSeconds: {{ $v.probes.startup.periodSeconds }}
    failureThreshold: {{ $v.probes.startup.failureThreshold }}
  livenessProbe:
    httpGet:
      path: /health/live
      port: http
    periodSeconds: {{ $v.probes.liveness.periodSeconds }}
    timeoutSeconds: {{ $v.probes.liveness.timeoutSeconds }}
    failureThreshold: {{ $v.probes.liveness.failureThreshold }}
  readinessProbe:
    httpGet:
      path: /health/ready
      port: http
    periodSeconds: {{ $v.probes.readiness.periodSeconds }}
    timeoutSeconds: {{ $v.probes.readiness.timeoutSeconds }}
    failureThreshold: {{ $v.probes.readiness.failureThreshold }}
  {{- end }}
  resources:
    {{- toYaml .resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    {{- include "zhanli.volumeMounts" . | trim | nindent 4 }}
{{- end }}

{{/*
One Deployment (+ HPA and PDB when enabled) of one service role. Args: root, name, role
("serve" | "api" | "relay" | "consume"), replicas, resources, scalable (bool).
*/}}
{{- define "zhanli.deployment" -}}
{{- $v := .root.Values }}
{{- $svc := index $v .name }}
{{- $component := include "zhanli.componentName" . }}
{{- $objName := ternary $component (printf "%s-%s" $component .role) (eq .role "serve") }}
{{- $hpa := and .scalable $svc.autoscaling.enabled }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $objName }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
    zhanli.io/role: {{ .role }}
spec:
  {{- if not $hpa }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- if not (include "zhanli.databaseSecret" .) }}
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "zhanli.roleSelector" . | trim | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "zhanli.componentLabels" . | trim | nindent 8 }}
        zhanli.io/role: {{ .role }}
      annotations:
        checksum/config: {{ include "zhanli.envMap" . | sha256sum }}
        {{- if $v.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $v.metrics.port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ ternary $component "default" $v.serviceAccount.create }}
      {{- include "zhanli.podCommon" . | trim | nindent 6 }}
      terminationGracePeriodSeconds: 30
      {{- if not (include "zhanli.databaseSecret" .) }}
      initContainers:
        {{- include "zhanli.container" (merge (dict "command" "migrate" "containerName" "migrate" "envFrom" $component "probes" false "resources" $v.migrations.resources) .) | trim | nindent 8 }}
      {{- end }}
      containers:
        {{- include "zhanli.container" (merge (dict "command" .role "containerName" .name "envFrom" $component "probes" true) .) | trim | nindent 8 }}
      {{- with $svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- if $hpa }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $objName }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
    zhanli.io/role: {{ .role }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $objName }}
  minReplicas: {{ $svc.autoscaling.minReplicas }}
  maxReplicas: {{ $svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $svc.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
{{- if and $svc.podDisruptionBudget.enabled .scalable }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $objName }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
    zhanli.io/role: {{ .role }}
spec:
  minAvailable: {{ $svc.podDisruptionBudget.minAvailable }}
  selector:
    matchLabels:
      {{- include "zhanli.roleSelector" . | trim | nindent 6 }}
{{- end }}
{{- end }}

{{/*
THE shared template: everything one service needs. Called by templates/<service>.yaml
as include "zhanli.service" (dict "root" . "name" "<service>").
*/}}
{{- define "zhanli.service" -}}
{{- include "zhanli.checkDemoMode" . }}
{{- $v := .root.Values }}
{{- $svc := index $v .name }}
{{- $component := include "zhanli.componentName" . }}
{{- $split := and (hasKey $svc "splitRoles") $svc.splitRoles }}
{{- if $v.serviceAccount.create }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $component }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
  {{- with $v.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $component }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
data:
  {{- include "zhanli.envMap" . | trim | nindent 2 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $component }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "zhanli.roleSelector" (merge (dict "role" (ternary "api" "serve" $split)) .) | trim | nindent 4 }}
  ports:
    - name: http
      port: {{ $svc.port }}
      targetPort: http
      protocol: TCP
    - name: metrics
      port: {{ $v.metrics.port }}
      targetPort: metrics
      protocol: TCP
{{- if $v.metrics.serviceMonitor.enabled }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ $component }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
    {{- with $v.metrics.serviceMonitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "zhanli.selectorLabels" .root | trim | nindent 6 }}
      app.kubernetes.io/component: {{ .name }}
  endpoints:
    - port: metrics
      path: /metrics
      interval: {{ $v.metrics.serviceMonitor.interval }}
{{- end }}
{{- if $split }}
{{- include "zhanli.deployment" (merge (dict "role" "api" "replicas" $svc.roles.api.replicas "resources" ($svc.roles.api.resources | default $svc.resources) "scalable" true) .) }}
{{- include "zhanli.deployment" (merge (dict "role" "relay" "replicas" $svc.roles.relay.replicas "resources" ($svc.roles.relay.resources | default $svc.resources) "scalable" false) .) }}
{{- include "zhanli.deployment" (merge (dict "role" "consume" "replicas" $svc.roles.consume.replicas "resources" ($svc.roles.consume.resources | default $svc.resources) "scalable" true) .) }}
{{- else }}
{{- include "zhanli.deployment" (merge (dict "role" "serve" "replicas" $svc.replicas "resources" $svc.resources "scalable" true) .) }}
{{- end }}
{{- if and $v.migrations.enabled (include "zhanli.databaseSecret" .) }}
{{- /* the gateway last: its migrations drop what the people and audit services carried */}}
{{- include "zhanli.hookJob" (merge (dict "jobName" (printf "%s-migrate" $component) "command" "migrate" "weight" (ternary "2" "0" (eq .name "gateway"))) .) }}
{{- end }}
{{- end }}

{{/*
A pre-install/pre-upgrade hook Job. It runs before the release's ConfigMaps and
ServiceAccounts exist, so it inlines its environment and uses the hook ServiceAccount.
Args: root, name (whose image and settings it uses), jobName, command, weight; module
(optional: run `python -m <module>` instead of the image's entrypoint), skipDatabase.
*/}}
{{- define "zhanli.hookJob" -}}
{{- $v := .root.Values }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .jobName | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "zhanli.componentLabels" . | trim | nindent 4 }}
    zhanli.io/role: {{ .command }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: {{ .weight | quote }}
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $v.migrations.backoffLimit }}
  activeDeadlineSeconds: {{ $v.migrations.activeDeadlineSeconds }}
  ttlSecondsAfterFinished: {{ $v.migrations.ttlSecondsAfterFinished }}
  template:
    metadata:
      labels:
        {{- include "zhanli.componentLabels" . | trim | nindent 8 }}
        zhanli.io/role: {{ .command }}
    spec:
      restartPolicy: Never
      serviceAccountName: {{ ternary (printf "%s-hooks" (include "zhanli.fullname" .root)) "default" $v.serviceAccount.create }}
      {{- include "zhanli.podCommon" . | trim | nindent 6 }}
      containers:
        {{- include "zhanli.container" (merge (dict "containerName" .command "envFrom" "" "probes" false "resources" $v.migrations.resources) .) | trim | nindent 8 }}
{{- end }}
