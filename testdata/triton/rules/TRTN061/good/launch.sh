tritonserver --model-repository=/models --allow-grpc=false \
  --http-restricted-api=shared-memory,logging,trace,model-repository:admin-key=change-me
