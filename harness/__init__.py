"""The project's test harness: images, the local sandbox, the VM and the helpers they share."""
