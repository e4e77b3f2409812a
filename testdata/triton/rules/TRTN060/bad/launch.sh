tritonserver --model-repository=/models \
  --model-control-mode=explicit
