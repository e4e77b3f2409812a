


serve