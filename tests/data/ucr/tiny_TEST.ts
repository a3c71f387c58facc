@problemName Tiny
@univariate true
@equalLength true
@seriesLength 4
@classLabel true up down
@data
2,2,2,2:down
-1,0,1,5:up
