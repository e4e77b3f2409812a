tritonserver --model-repository=/models \
  --model-control-mode=explicit \
  --http-restricted-api=model-repository:admin-key=change-me \
  --grpc-restricted-protocol=model-repository:admin-key=change-me
